"""Alert rules (Prometheus rule-file shape), evaluation, silences and notifiers."""
