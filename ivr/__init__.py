"""The IVR: greeting, emergency notice, language choice, menu, office hours, and the way into messages."""
