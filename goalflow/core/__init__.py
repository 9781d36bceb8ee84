"""The foundation every process stands on: settings, the Temporal connection and the namespace
check, tracking tokens, logging, the outbound guard, production checks, the trigger cache, the
profile and SMS-recipient directories, the development SMTP sink. It imports nothing of ours but
`workflows/`."""
