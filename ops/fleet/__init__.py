"""Fleet runs: many stacks previewed or updated at once through Pulumi's Automation API,
bounded by the machine's cores, in waves of PoPs for `up`; and a simulated fleet to measure
them on."""
