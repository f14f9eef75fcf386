"""Storage interfaces (CDRs, actor state, reminders) and their backends.

Two backends implement every interface here: Apache Cassandra (production) and an
embedded SQLite store (a newcomer's first run, no JVM). One contract test suite runs
against both.
"""
