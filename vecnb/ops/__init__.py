"""Operations over indexes: ``migrate`` between stores and the ``IncrementalVectorizer``."""
