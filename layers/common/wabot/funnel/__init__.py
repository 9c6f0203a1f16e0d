"""The sales funnel: its definition (data), the default funnel, and the routing engine."""
