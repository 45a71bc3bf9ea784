"""Messages patients leave: saving them from the call log, reading them (authenticated, audited), playing
their recordings, and the receipt SMS that tells a caller when to expect the callback."""
