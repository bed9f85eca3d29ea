"""Alerts: who is told what when something happens to a report, and getting it there.

* `messenger` — what a platform must offer to deliver outside a conversation;
* `plan` — pure planners: a domain event and the case in, the deliveries out;
* `followups` — the clock: what is overdue and who hears next;
* `sender` — the only part that does I/O: sends, retries, records, never gives up.
"""
