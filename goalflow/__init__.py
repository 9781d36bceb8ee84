"""goalflow: durable marketing/CRM automations with goal events, on Temporal."""

__version__ = "0.1.0"
