"""The answering desk's backend: what an agent's screen shows and keeps true (the screen pop of an offer, the
agent's day, the desk's presence that keeps a closed desk out of rotation)."""
