"""The sandbox's DNS server: answers from the zones in Route 53's stand-in (moto), as Route 53's
own name servers answer from a hosted zone. The sandbox's ACME CA asks it for the TXT records
of DNS-01 challenges that the hosts' ACME clients wrote through the Route 53 API.

    python -m sandbox.dns --listen 127.0.0.1:8053 --route53 http://127.0.0.1:8788

UDP and TCP (pebble asks over TCP); names outside every zone get REFUSED, names in
a zone without records of the type asked get NOERROR with no answer, or NXDOMAIN.
"""

import argparse
import socketserver
import threading
from typing import Any

import boto3
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ANSWERED_TYPES = ("A", "AAAA", "TXT", "CNAME", "CAA")


def _record_sets(route53: Any, zone: str) -> list[dict[str, Any]]:
    pages = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone)
    return [record for page in pages for record in page["ResourceRecordSets"]]


def _zone_of(route53: Any, name: dns.name.Name) -> str | None:
    """The id of the most specific hosted zone holding `name`."""
    best: tuple[int, str] | None = None
    for zone in route53.list_hosted_zones()["HostedZones"]:
        origin = dns.name.from_text(zone["Name"])
        if name.is_subdomain(origin) and (best is None or len(origin) > best[0]):
            best = (len(origin), zone["Id"])
    return best[1] if best else None


def answer(route53: Any, query: dns.message.Message) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    question = query.question[0]
    zone = _zone_of(route53, question.name)
    if zone is None:
        response.set_rcode(dns.rcode.REFUSED)
        return response
    records = [
        record
        for record in _record_sets(route53, zone)
        if dns.name.from_text(record["Name"]) == question.name
    ]
    if not records:
        response.set_rcode(dns.rcode.NXDOMAIN)
        return response
    asked = dns.rdatatype.to_text(question.rdtype)
    for record in records:
        if record["Type"] != asked or asked not in ANSWERED_TYPES:
            continue
        values = [value["Value"] for value in record.get("ResourceRecords", [])]
        response.answer.append(
            dns.rrset.from_text_list(question.name, int(record.get("TTL", 60)), "IN", asked, values)
        )
    return response


def serve(listen: str, route53_endpoint: str) -> None:
    route53 = boto3.client(
        "route53",
        endpoint_url=route53_endpoint,
        region_name="us-east-1",
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )

    class UdpHandler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            reply = _reply(data)
            if reply:
                sock.sendto(reply, self.client_address)

    class TcpHandler(socketserver.StreamRequestHandler):  # what pebble's checks use
        def handle(self) -> None:
            size = self.rfile.read(2)
            if len(size) == 2:
                reply = _reply(self.rfile.read(int.from_bytes(size, "big")))
                self.wfile.write(len(reply).to_bytes(2, "big") + reply)

    def _reply(data: bytes) -> bytes:
        try:
            return bytes(answer(route53, dns.message.from_wire(data)).to_wire())
        except dns.exception.DNSException:
            return b""

    host, port = listen.rsplit(":", 1)
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    udp = socketserver.ThreadingUDPServer((host, int(port)), UdpHandler)
    tcp = socketserver.ThreadingTCPServer((host, int(port)), TcpHandler)
    threading.Thread(target=udp.serve_forever, daemon=True).start()
    tcp.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="address:port (UDP)")
    parser.add_argument("--route53", required=True, help="the Route 53 stand-in's endpoint")
    args = parser.parse_args()
    serve(args.listen, args.route53)


if __name__ == "__main__":
    main()
