"""Where each backend's server is: an explicit URL, the local default, or an embedded server benchcore starts."""
