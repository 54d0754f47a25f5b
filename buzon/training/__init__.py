"""What the trainers get from real conversations, without a personal datum in it.

``make export-conversations`` (``scripts/export_conversations.py``) reads the
conversations through the tracker store and hands their events, as plain dicts,
to this package:

- :mod:`buzon.training.redaction`: every personal datum in a text, an entity or a
  slot value replaced by a placeholder (``<cedula>``, ``<telefono>``, ``<nombre>``…);
- :mod:`buzon.training.conversations`: the events of a tracker as redacted
  conversations (user messages with their predicted intents, actions, forms);
- :mod:`buzon.training.training_files`: those conversations as Rasa YAML
  (``nlu.yml``, ``test_stories.yml``) for annotation;
- :mod:`buzon.training.annotation_queue`: the messages to label first, ranked;
- :mod:`buzon.training.conversation_report`: the registration funnel, the
  fallback rate and the messages most often misunderstood.

Nothing here imports Rasa; spaCy is loaded only when a text needs its NER.
"""
