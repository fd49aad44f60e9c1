"""Import and export of datasets: the dialogs and the jobs behind them."""
