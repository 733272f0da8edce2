"""Forecasts of parking, air quality and congestion, learnt only from stored observations.

Reads the store (data/store) and the domain rules (data/rules), never the simulator or the jobs, so
it runs unchanged on a real city's feeds (tests/test_forecast_rules.py checks the imports).
features.py (lags, calendar, naive baselines) and skill.py (MAE, skill, HJ 633 level hit rate) are
pure; series.py loads a layer as a (time x sensor) matrix; model.py fits; backtest.py scores on
held-back days; outlook.py turns the served AQI forecasts into the city's 3-day HJ 633 outlook.
`python -m cli.forecast backtest [--city C] [--simulated-days 15]` prints the table.
"""
