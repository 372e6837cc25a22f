"""Data: the task registry and the built-in tasks (Ising, teacher–student, digits, MNIST) and user CSV files."""
from __future__ import annotations

from .csv import load_csv, task_from_arrays, train_test_split
from .digits import BINARY_TASKS, digits_task, mnist_task
from .synthetic import TEACHERS, ising, ising_task, teacher_student, teacher_student_task
from .tasks import Task, TaskSpec, available_tasks, make_task, register_task, standardize

__all__ = [
    "BINARY_TASKS",
    "TEACHERS",
    "Task",
    "TaskSpec",
    "available_tasks",
    "ising",
    "load_csv",
    "make_task",
    "register_task",
    "standardize",
    "task_from_arrays",
    "teacher_student",
    "train_test_split",
]

# The built-in tasks, registered explicitly (a user may add more with register_task).
register_task("ising", ising_task, options={})
register_task("teacher_student", teacher_student_task, options={})
register_task("digits", digits_task, options={"binary": BINARY_TASKS})
register_task("mnist", mnist_task, options={"binary": BINARY_TASKS, "path": None})
