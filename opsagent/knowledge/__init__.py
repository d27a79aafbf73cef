"""The knowledge base (知识库): articles with versions and translations, harvested from resolved incidents,
searched in Chinese and English on SQLite and PostgreSQL, and suggested to incidents when they open."""
