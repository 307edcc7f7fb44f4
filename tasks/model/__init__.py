"""Model: features, LightGBM training, forecasting and scoring (plain Python: no Prefect).

``features`` lags, rolling windows, calendar and categoricals, shifted so nothing leaks;
``train`` a deterministic LightGBM model; ``forecast`` the recursive multi-step forecast;
``backtest`` the rolling-origin backtest against seasonal-naive and moving-average
baselines; ``gate`` the promotion gate; ``metrics`` WAPE, MAE, RMSE and bias;
``hyperparameters`` checks LightGBM parameter names and values against LightGBM's own.
"""
