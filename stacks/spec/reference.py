"""Reference data the spec is checked against: ASN ranges, AWS regions, Route 53 geo codes."""

# RFC 7607 (0), RFC 6793 (23456, AS_TRANS), RFC 5398 (documentation), RFC 7300 (last ASNs),
# IANA reserved block 65552-131071.
RESERVED_ASN_RANGES: tuple[tuple[int, int, str], ...] = (
    (0, 0, "AS0 is reserved (RFC 7607)"),
    (23_456, 23_456, "AS_TRANS is reserved (RFC 6793)"),
    (64_496, 64_511, "reserved for documentation (RFC 5398)"),
    (65_535, 65_535, "reserved (RFC 7300)"),
    (65_536, 65_551, "reserved for documentation (RFC 5398)"),
    (65_552, 131_071, "reserved by IANA"),
    (4_294_967_295, 4_294_967_295, "reserved (RFC 7300)"),
)
PRIVATE_ASN_RANGES: tuple[tuple[int, int], ...] = ((64_512, 65_534), (4_200_000_000, 4_294_967_294))
MAX_ASN = 4_294_967_295

# Longest prefixes transit and route servers accept.
MAX_IPV4_PREFIX_LEN = 24
MAX_IPV6_PREFIX_LEN = 48

# The widest SSH admin range a production or staging PoP may open SSH to: an office, VPN or
# bastion network, never the internet. A /16 is 65,536 IPv4 addresses; a /48 one IPv6 site.
MIN_SSH_ADMIN_IPV4_PREFIX_LEN = 16
MIN_SSH_ADMIN_IPV6_PREFIX_LEN = 48

# Route 53 latency records measure latency to AWS regions only.
AWS_REGIONS: frozenset[str] = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)

# Route 53 geolocation continent codes.
ROUTE53_CONTINENTS: frozenset[str] = frozenset({"AF", "AN", "AS", "EU", "NA", "OC", "SA"})

# Record TTL policy: low enough to steer users away from a failed PoP quickly, high enough
# not to multiply resolver load.
MIN_TTL_S = 10
MAX_TTL_S = 3600
