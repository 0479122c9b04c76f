"""Use cases: plain classes taking the ports as arguments."""
