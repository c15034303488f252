"""The GitHub webhook receiver: `conducto-nb webhook serve` turns GitHub's deliveries into the
same `.conducto.cfg` events the simulation runs (../simulate.py), on the user's own machine.

Read first: server.py (the aiohttp app: what each answer means, in the order decided), then
signature.py (X-Hub-Signature-256), payload.py (a payload as an event and its values),
dispatch.py (running a delivery: checkouts, duplicates, trust) and commands.py (the CLI).
Deliveries are kept by store/deliveries.py; a pipeline finds its delivery through
run/event_trust.py.

May import: errors, store, events (the cfg, the simulation's checkouts and guard), and from
run only event_trust's names (the variables a delivery's command passes on); aiohttp.
"""
