"""Lambda entry points: event view -> one service call -> response; nothing heavy imported."""
