"""Bare-metal providers: their catalogues and (later) their clients and Pulumi resources."""
