"""CRM adapters behind the ``CRM`` port: a JSON file, a generic HTTP contract, HubSpot and Salesforce."""
