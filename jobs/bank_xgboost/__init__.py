"""XGBoost on the UCI bank-marketing table (the SageMaker direct-marketing tutorial), tuned for validation AUC."""
