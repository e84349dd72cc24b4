"""Feasibility options and price quotes, decided inside QGIS.

Lists the orders of a connection that wait for the user; for a feasibility study it shows
the options with their descriptions and confirms the chosen one; for a quotation it shows
the price and accepts or rejects it after a confirmation that names the amount.

Several orders are decided at once: select them (Ctrl/Shift-click) and confirm one option (each order
gets its own option with the same description) or accept/reject all their prices after one question that
names the total. The list keeps its order while decisions come in: nothing moves under the cursor.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from qgis.PyQt import sip, uic
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QAbstractItemView, QDialog, QListWidgetItem, QMessageBox, QWidget

from ..plugin.model import Decision, FeasibilityOption, FeasibilityStudy, Order, Quotation
from ..plugin.tasks import BackgroundTask, TaskRunner
from ..plugin.wording import amount as amount_text
from ..plugin.wording import plural, status_sentence
from .schema_form_widgets import rich_tooltip

if TYPE_CHECKING:  # read by type checkers only
    from ..plugin.message_bar import MessageBar
    from ..plugin.providers.base import TaskingProvider

FORM_CLASS, _ = uic.loadUiType(str(Path(__file__).with_name("decisions_dialog.ui")))

ORDER_ROLE = Qt.ItemDataRole.UserRole
# Money is never spent by pressing Enter: every question that commits to a price defaults to No.
_YES_NO = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
_NO = QMessageBox.StandardButton.No
_DECISION_WORDS = {Decision.FEASIBILITY: "choose a feasibility option", Decision.QUOTATION: "accept or reject a price"}


class DecisionsDialog(QDialog, FORM_CLASS):
    # A decision was taken on an order of this connection (its id): the monitor syncs it at once, so the order
    # stops showing "Waiting for you".
    decided = pyqtSignal(str)

    def __init__(self, provider: TaskingProvider, task_runner: TaskRunner, messages: Optional[MessageBar] = None,
                 parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setupUi(self)
        self.provider = provider
        self.task_runner = task_runner
        self.messages = messages
        self.orders: Dict[str, Order] = {}
        self.study: Optional[FeasibilityStudy] = None
        self.quotation: Optional[Quotation] = None
        self._positions: Dict[str, int] = {}  # order id -> place in the list: kept across refreshes
        self.setWindowTitle(f"Feasibility and price quotes — {provider.connection.name}")
        self.ordersList.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.ordersList.currentItemChanged.connect(self._order_selected)
        self.ordersList.itemSelectionChanged.connect(self._update_buttons)
        self.optionsList.currentItemChanged.connect(self._update_buttons)
        self.confirmOptionButton.clicked.connect(self.confirm_option)
        self.acceptButton.clicked.connect(lambda: self.decide_quote(True))
        self.rejectButton.clicked.connect(lambda: self.decide_quote(False))
        self.refreshButton.clicked.connect(self.refresh)
        self._show_detail(None)
        self.refresh()

    # -- loading --------------------------------------------------------------------------
    def _run(self, description: str, work: Callable[[BackgroundTask], Any],
             on_success: Callable[[Any], None]) -> BackgroundTask:
        self.statusLabel.setText(description + "…")

        def success(result: Any) -> None:
            if not sip.isdeleted(self):
                self.statusLabel.setText("")
                on_success(result)

        def failure(message: str) -> None:
            if not sip.isdeleted(self):
                self.statusLabel.setText(message)

        return self.task_runner.start(BackgroundTask(description, work, on_success=success, on_failure=failure))

    def refresh(self) -> None:
        provider = self.provider
        self._run("Looking for orders that wait for you",
                  lambda task: [o for o in provider.orders() if o.decision != Decision.NONE], self._orders_loaded)

    def _orders_loaded(self, orders: List[Order]) -> None:
        selected = self.current_order()
        chosen = {order.id for order in self.selected_orders()}
        # Orders seen before keep their places; new ones come after them.
        for order in orders:
            self._positions.setdefault(order.id, len(self._positions))
        orders = sorted(orders, key=lambda order: self._positions[order.id])
        self.ordersList.blockSignals(True)
        self.ordersList.clear()
        self.ordersList.blockSignals(False)
        self.orders = {order.id: order for order in orders}
        for order in orders:
            item = QListWidgetItem(f"{order.name} — {_DECISION_WORDS[order.decision]}")
            item.setData(ORDER_ROLE, order.id)
            item.setToolTip(rich_tooltip(f"{status_sentence(order)}\nOrder id: {order.id}"))
            self.ordersList.addItem(item)
            if selected is not None and order.id == selected.id:
                self.ordersList.setCurrentItem(item)
            item.setSelected(order.id in chosen or (selected is not None and order.id == selected.id))
        if not orders:
            self._show_detail(None)
            self.detailsLabel.setText("No order waits for a feasibility choice or a price decision.")
        elif self.ordersList.currentItem() is None:
            self.ordersList.setCurrentRow(0)

    def selected_orders(self) -> List[Order]:
        """The orders selected, in list order (the current one when nothing else is)."""
        found = [self.orders[item.data(ORDER_ROLE)] for item in self.ordersList.selectedItems()
                 if item.data(ORDER_ROLE) in self.orders]
        found.sort(key=lambda order: self._positions.get(order.id, 0))
        current = self.current_order()
        return found or ([current] if current is not None else [])

    def _selected_of(self, decision: Decision) -> List[Order]:
        return [order for order in self.selected_orders() if order.decision == decision]

    def current_order(self) -> Optional[Order]:
        item = self.ordersList.currentItem()
        return self.orders.get(item.data(ORDER_ROLE)) if item is not None else None

    def _order_selected(self, *_: object) -> None:
        order = self.current_order()
        self._show_detail(order)
        if order is None:
            return
        provider = self.provider
        if order.decision == Decision.FEASIBILITY:
            self._run(f"Reading the feasibility study of {order.name}", lambda task: provider.feasibility(order),
                      lambda study: self._study_loaded(order, study))
        elif order.decision == Decision.QUOTATION:
            self._run(f"Reading the price quote of {order.name}", lambda task: provider.quotation(order),
                      lambda quotation: self._quotation_loaded(order, quotation))

    def _show_detail(self, order: Optional[Order]) -> None:
        self.study = None
        self.quotation = None
        self.optionsList.clear()
        feasibility = order is not None and order.decision == Decision.FEASIBILITY
        quotation = order is not None and order.decision == Decision.QUOTATION
        self.optionsList.setVisible(feasibility)
        self.confirmOptionButton.setVisible(feasibility)
        self.priceLabel.setVisible(quotation)
        self.acceptButton.setVisible(quotation)
        self.rejectButton.setVisible(quotation)
        self.priceLabel.clear()
        self.detailsLabel.setText("" if order is None else f"{order.name}\n{status_sentence(order)}")
        self.detailsLabel.setToolTip("" if order is None else rich_tooltip(f"Order id: {order.id}"))
        self._update_buttons()

    def _study_loaded(self, order: Order, study: Optional[FeasibilityStudy]) -> None:
        if order is not self.current_order():
            return
        self.study = study
        self.optionsList.clear()
        if study is None or not study.options:
            self.detailsLabel.setText(f"{order.name}: the feasibility study has no options yet.")
            return
        for option in study.options:
            item = QListWidgetItem(option.description or option.id)
            item.setData(ORDER_ROLE, option.id)
            item.setToolTip(rich_tooltip(option.description or option.id))
            self.optionsList.addItem(item)
        self.detailsLabel.setText(f"{order.name}: choose one of {plural(len(study.options), 'option')}. You cannot "
                                  "change the order after confirming an option.")
        self._update_buttons()

    def _quotation_loaded(self, order: Order, quotation: Optional[Quotation]) -> None:
        if order is not self.current_order():
            return
        self.quotation = quotation
        if quotation is None:
            self.priceLabel.setText("The price quote is not ready yet.")
        else:
            self.priceLabel.setText(f"Price: {amount_text(quotation.price, quotation.unit)}")
        self._update_buttons()

    def _update_buttons(self, *_: object) -> None:
        studies = len(self._selected_of(Decision.FEASIBILITY))
        quotes = len(self._selected_of(Decision.QUOTATION))
        self.confirmOptionButton.setEnabled(self.study is not None and self.optionsList.currentItem() is not None)
        self.confirmOptionButton.setText("Confirm chosen option" if studies < 2
                                         else f"Confirm chosen option for {studies} orders")
        undecided = self.quotation is not None and self.quotation.decision == "NOT_DECIDED"
        self.acceptButton.setEnabled(undecided or quotes > 1)
        self.rejectButton.setEnabled(undecided or quotes > 1)
        self.acceptButton.setText("Accept price…" if quotes < 2 else f"Accept {quotes} prices…")
        self.rejectButton.setText("Reject price…" if quotes < 2 else f"Reject {quotes} prices…")

    # -- deciding -------------------------------------------------------------------------
    def confirm_option(self) -> None:
        order, study, item = self.current_order(), self.study, self.optionsList.currentItem()
        if order is None or study is None or item is None:
            return
        option = next(o for o in study.options if o.id == item.data(ORDER_ROLE))
        others = [o for o in self._selected_of(Decision.FEASIBILITY) if o.id != order.id]
        if others:
            self._confirm_option_for_many(order, study, option, others)
            return
        answer = QMessageBox.question(
            self, "Confirm feasibility option",
            rich_tooltip(f"Confirm this option for {order.name}?\n\n{option.description}\n\n"
                         "You can't modify the order after accepting an option; a price quote follows."),
            _YES_NO, _NO)
        if answer != QMessageBox.StandardButton.Yes:
            return
        provider = self.provider
        self._run(f"Confirming the option for {order.name}", lambda task: provider.choose_option(study, option),
                  lambda result: self._decided(f"Option confirmed for {order.name}; a price quote follows."))

    def _confirm_option_for_many(self, order: Order, study: FeasibilityStudy, option: FeasibilityOption,
                                 others: List[Order]) -> None:
        """One question, then the option with the same description for every selected order."""
        provider = self.provider

        def studies(task: BackgroundTask) -> List[Tuple[Order, Optional[FeasibilityStudy]]]:
            return [(other, provider.feasibility(other)) for other in others]

        position = next(i for i, o in enumerate(study.options) if o.id == option.id)

        def matching(other_study: Optional[FeasibilityStudy]) -> Optional[FeasibilityOption]:
            """The other order's option like this one: the same description, else the option at the same place
            in its study's list. The question shows each order's own option before anything is confirmed."""
            options = other_study.options if other_study else []
            same = next((o for o in options if o.description == option.description), None)
            if same is None and position < len(options):
                same = options[position]
            return same

        def loaded(pairs: List[Tuple[Order, Optional[FeasibilityStudy]]]) -> None:
            plan = [(order, study, option)]
            missing = []
            for other, other_study in pairs:
                match = matching(other_study)
                if match is None:
                    missing.append(other.name)
                else:
                    plan.append((other, other_study, match))
            text = (f"Confirm option {position + 1} for {plural(len(plan), 'order')}?\n\n"
                    + "\n".join(f"• {o.name}: {chosen.description or chosen.id}" for o, _, chosen in plan)
                    + (f"\n\nNot offered to: {', '.join(missing)} (decide those one by one)." if missing else "")
                    + "\n\nYou can't modify these orders after accepting an option; price quotes follow.")
            answer = QMessageBox.question(self, "Confirm feasibility option", rich_tooltip(text), _YES_NO, _NO)
            if answer != QMessageBox.StandardButton.Yes:
                return
            self._run(f"Confirming the option for {plural(len(plan), 'order')}",
                      lambda task: [provider.choose_option(s, o) for _, s, o in plan],
                      lambda results: self._decided(f"Option confirmed for {plural(len(plan), 'order')}; price "
                                                    "quotes follow."))

        self._run(f"Reading {plural(len(others) + 1, 'feasibility study', 'feasibility studies')}", studies,
                  loaded)

    def decide_quote(self, accept: bool) -> None:
        chosen = self._selected_of(Decision.QUOTATION)
        if len(chosen) > 1:
            self._decide_many_quotes(chosen, accept)
            return
        order, quotation = self.current_order(), self.quotation
        if order is None or quotation is None:
            return
        amount = amount_text(quotation.price, quotation.unit)
        question = (f"Accept the price of {amount} for {order.name}?\n\nThe amount is deducted from your credit "
                    "balance and tasking starts." if accept else
                    f"Reject the price of {amount} for {order.name}?\n\nThe order will not be carried out.")
        answer = QMessageBox.question(self, "Accept price" if accept else "Reject price", rich_tooltip(question),
                                      _YES_NO, _NO)
        if answer != QMessageBox.StandardButton.Yes:
            return
        provider = self.provider
        verb = "accepted" if accept else "rejected"
        self._run(f"Sending your decision on {order.name}", lambda task: provider.decide(quotation, accept),
                  lambda result: self._decided(f"Price of {amount} {verb} for {order.name}."))

    def _decide_many_quotes(self, orders: List[Order], accept: bool) -> None:
        """One question naming the total (per unit), then every selected price accepted or rejected."""
        provider = self.provider

        def quotes(task: BackgroundTask) -> List[Tuple[Order, Optional[Quotation]]]:
            return [(order, provider.quotation(order)) for order in orders]

        def loaded(pairs: List[Tuple[Order, Optional[Quotation]]]) -> None:
            open_quotes = [(o, q) for o, q in pairs if q is not None and q.decision == "NOT_DECIDED"]
            if not open_quotes:
                self.statusLabel.setText("None of the selected prices waits for a decision any more.")
                return
            totals: Dict[str, float] = {}
            for _, quotation in open_quotes:
                totals[quotation.unit] = totals.get(quotation.unit, 0) + quotation.price
            total = " + ".join(amount_text(value, unit) for unit, value in totals.items())
            lines = "\n".join(f"• {o.name}: {amount_text(q.price, q.unit)}" for o, q in open_quotes)
            count = plural(len(open_quotes), "price")
            question = (f"Accept {count}, {total} in all?\n\n{lines}\n\nThe amount is deducted from your credit "
                        "balance and tasking starts." if accept else
                        f"Reject {count} ({total} in all)?\n\n{lines}\n\nThese orders will not be carried out.")
            answer = QMessageBox.question(self, "Accept prices" if accept else "Reject prices",
                                          rich_tooltip(question), _YES_NO, _NO)
            if answer != QMessageBox.StandardButton.Yes:
                return
            verb = "accepted" if accept else "rejected"
            self._run(f"Sending your decision on {count}",
                      lambda task: [provider.decide(q, accept) for _, q in open_quotes],
                      lambda results: self._decided(f"{count[0].upper() + count[1:]} {verb}: {total}."))

        self._run(f"Reading {plural(len(orders), 'price quote')}", quotes, loaded)

    def _decided(self, text: str) -> None:
        self.decided.emit(self.provider.connection.id)
        if self.messages:
            self.messages.success(text)
        self.statusLabel.setText(text)
        self.refresh()
