"""The canonical POP event: its model, the events endpoint, and publishing to `pop-events`."""
