"""What every benchmark section shares: the store and its target, the data, the tools under test,
launching and measuring processes (wall, CPU, peak RSS, and the agent's share), and table formatting."""
