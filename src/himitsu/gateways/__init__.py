"""The exits Himitsu guards: an OpenAI-compatible gateway for generative AI and an SMTP relay for mail.

Both are thin callers of one :class:`~himitsu.gateways.base.Guard` (check, hold, identify), which the web
app implements on its database (policy, records, quarantine) and :class:`~himitsu.gateways.base.EngineGuard`
implements on a bare engine and policy (tests, ``himitsu guard test``). Nothing here imports Django.
"""
