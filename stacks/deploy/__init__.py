"""The host deploy inside `pulumi up`: one HostDeploy resource per server runs the pyinfra site
deploy against it, then the verification suites as a gate; deleting it drains the server
before the provider releases it."""
