"""The sandbox's log collector: what a PoP's hosts ship their logs to (the base role's
`log_collector`), as a central syslog server would take them. It listens on the bridge for
syslog over TCP with octet-counting framing (RFC 6587 3.4.1: `LENGTH SP MESSAGE`, rsyslog's
`TCP_Framing="octet-counted"`) and appends each message, as one line, to its log.

    python -m sandbox.collector LISTEN_ADDRESS PORT LOG_FILE
"""

import asyncio
import sys
from pathlib import Path

MAX_MESSAGE = 64 * 1024  # a longer "length" is a broken or hostile sender: drop it


class FramingError(Exception):
    pass


def frames(buffer: bytearray) -> list[bytes]:
    """The complete messages at the head of `buffer`, removed from it; an incomplete one stays
    for the next read. Raises FramingError on a frame that is not octet-counted."""
    found: list[bytes] = []
    while True:
        space = buffer.find(b" ")
        if space == -1:
            if len(buffer) > 6 or (buffer and not buffer.isdigit()):
                raise FramingError(f"no length prefix: {bytes(buffer[:20])!r}")
            return found
        length_text = bytes(buffer[:space])
        if not length_text.isdigit() or length_text.startswith(b"0"):
            raise FramingError(f"not an octet count: {length_text[:20]!r}")
        length = int(length_text)
        if length > MAX_MESSAGE:
            raise FramingError(f"a message of {length} octets (at most {MAX_MESSAGE})")
        end = space + 1 + length
        if len(buffer) < end:
            return found
        found.append(bytes(buffer[space + 1 : end]))
        del buffer[:end]


def as_line(message: bytes) -> str:
    return message.decode("utf-8", "replace").replace("\n", " ").rstrip() + "\n"


async def serve(address: str, port: int, log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("a", encoding="utf-8")

    async def sender(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = bytearray()
        try:
            while chunk := await reader.read(65536):
                buffer += chunk
                out.writelines(as_line(message) for message in frames(buffer))
                out.flush()
        except (FramingError, ConnectionError) as error:
            print(f"collector: {writer.get_extra_info('peername')}: {error}", flush=True)
        finally:
            writer.close()

    server = await asyncio.start_server(sender, address, port)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        sys.exit(__doc__)
    address, port, log = argv
    asyncio.run(serve(address, int(port), Path(log)))


if __name__ == "__main__":
    main(sys.argv[1:])
