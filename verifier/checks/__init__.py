"""Static validation of a course: findings with stable codes, read from text and AST only."""
