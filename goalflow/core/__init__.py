"""The foundation: what the API, the activities and the worker share below them."""
