"""Incidents: the life-cycle rules, what people do to an incident, and why it has its severity."""
