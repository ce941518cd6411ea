"""Analysis layer: reads only the files runs write (episodes, summaries, ledgers) -> tables and plots."""
