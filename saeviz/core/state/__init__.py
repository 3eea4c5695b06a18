"""What a user works on, Qt-free and observable: the ``Session`` (dataset, labels, model,
training state and results), the ``LabelStore`` and the label edits that change it, and the
labeling rounds that compare rankings before and after new labels (``rounds``)."""
