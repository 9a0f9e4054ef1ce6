"""The Django application behind the shop: orders and the scheduler's heartbeats.

Nothing here is imported before oservices has set Django up (the setup stage,
in the component's own process): :mod:`shop.components` names this
application only by its dotted path.
"""
