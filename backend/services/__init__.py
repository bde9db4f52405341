"""Use cases: each public function is one thing a client or organiser does."""
