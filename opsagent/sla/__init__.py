"""Service levels: policy (content), business calendars, SLA clocks from the event log, escalation,
on-call, follow-ups. Everything here except :mod:`opsagent.sla.service` is pure logic over data."""
