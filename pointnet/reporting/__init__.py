"""What people look at: TensorBoard, figures, critical points, sweep comparisons, model cards
(``model_card``) and predictions as table, JSON lines or CSV (``predictions``).

Figures are ``matplotlib.figure.Figure`` objects drawn without pyplot, so importing this package
never changes matplotlib's backend.
"""
