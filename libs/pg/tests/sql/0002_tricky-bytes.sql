-- Tricky bytes: a raw-string terminator )" and )sql" and R"( must survive embedding,
-- as must CRLF line ends, backslashes and UTF-8.
INSERT INTO embed_check (v) VALUES (')"'), (')sql"'), ('R"('), ('\'), ('\n'), ('héllo ✓ 日本');
