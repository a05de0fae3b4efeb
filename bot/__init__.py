"""supportbot core: domain types, ports and the decisions.

Nothing in this package imports a chat platform, HTTP or database library;
adapters in ``adapters/`` and ``storage/`` implement the ports defined in
``bot.ports``. ``tests/test_architecture.py`` enforces this.
"""

__version__ = "0.1.0"
