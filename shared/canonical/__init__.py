"""The canonical POP event of the public contract: its model and checks (`event`) and the message it
becomes on the pop-events topic (`messages`).

Every domain that makes events (the events endpoint, bulk jobs) builds on this package; it stands on
`shared.platform` alone.
"""
