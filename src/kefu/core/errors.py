class ActionError(ValueError):
    """An action refused its input; the message is meant for the person who gave it."""
