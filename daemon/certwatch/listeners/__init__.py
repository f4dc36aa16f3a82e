"""Syslog listeners (I/O shell): UDP datagrams, TCP and TLS streams. Their protocol classes only frame, join and
hand batches to the ingress queue."""
