"""One verify run: the stages in order, the result model, the release gate, progress output and the
module selection for partial runs."""
