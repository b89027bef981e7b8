"""Media workers seen from the web tier: transports, placement, ICE, signaling."""
