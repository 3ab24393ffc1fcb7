"""`python -m bench`: how fast opsqa runs a ten-step process, next to the bare library.

The same process (bench/processes/bench_ten_steps.bpmn: 5 user tasks, 4 service tasks and a
gateway) runs start to end four ways in one run:

1. opsqa on SQLite with the shipped settings (WAL, synchronous=FULL): every start and every
   completion is its own committed transaction, plus the task-list read before each completion;
2. raw SpiffWorkflow in memory;
3. raw SpiffWorkflow with deserialize -> complete -> serialize around each user task, with
   opsqa's own serializer (spec by reference): what opsqa does, minus the database;
4. the same with the library's own serializer, as SpiffWorkflow ships it (each state embeds
   the spec, and each load parses it again).

Each variant is warmed up, then timed over several rounds; every instance is checked to have
completed at the expected end event, so a broken run cannot report a fast figure.
"""
