"""The service desk: requests from people (phone, email, portal, API) become tickets — rows of the
incidents table with a ``source`` and a ``type`` — under the service-level policy their requester's
contract picks. Channels are thin: each hands a :class:`~opsagent.desk.intake.TicketRequest` to the
one ticket path, :func:`opsagent.desk.intake.open_ticket`."""
