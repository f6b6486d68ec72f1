"""What people look at: TensorBoard, figures, critical points and sweep comparisons.

Figures are ``matplotlib.figure.Figure`` objects drawn without pyplot, so importing this package
never changes matplotlib's backend.
"""
