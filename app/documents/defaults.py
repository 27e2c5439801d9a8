# ruff: noqa: E501
"""Built-in texts of every message kind, in French and English.

They are user-template sources (rendered in the sandbox with the same
placeholders as the owner's own texts), so "Reset to default" is simply
deleting the owner's row. One text serves both channels unless a letter needs
different words (``LETTER``)."""

from __future__ import annotations

EMAIL: dict[tuple[str, str], tuple[str, str]] = {
    # ---------------------------------------------------------------- French
    ("fr", "before_due"): (
        "Rappel : la facture {{ invoice_number }} arrive à échéance {% if days_left == 1 %}demain{% else %}dans {{ days_left }} jours{% endif %}",
        """Bonjour {{ client_name }},

Un petit mot pour vous rappeler que la facture {{ invoice_number }} de {{ amount }} arrive à échéance le {{ due_date }}{% if days_left == 1 %}, demain{% else %}, dans {{ days_left }} jours{% endif %}.

Montant restant dû : {{ balance }}{% if paid %} (compte tenu des {{ paid }} déjà reçus, merci){% endif %}

{{ payment_details }}

Si le règlement est déjà parti, merci beaucoup et ne tenez pas compte de ce message.

Bien cordialement,
{{ business_name }}""",
    ),
    ("fr", "due_today"): (
        "Rappel : la facture {{ invoice_number }} arrive à échéance aujourd'hui",
        """Bonjour {{ client_name }},

La facture {{ invoice_number }} de {{ amount }} arrive à échéance aujourd'hui, {{ due_date }}.

Montant restant dû : {{ balance }}{% if paid %} (compte tenu des {{ paid }} déjà reçus, merci){% endif %}

{{ payment_details }}

Si le règlement est déjà parti, merci et ne tenez pas compte de ce message.

Bien cordialement,
{{ business_name }}""",
    ),
    ("fr", "level1"): (
        "Rappel : la facture {{ invoice_number }} est en retard de {{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %}",
        """Bonjour {{ client_name }},

Sauf erreur de notre part, la facture {{ invoice_number }} du {{ invoice_date }}, échue le {{ due_date }}, n'est pas encore réglée ({{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %} de retard).

Montant restant dû : {{ balance }}{% if paid %} (compte tenu des {{ paid }} déjà reçus, merci){% endif %}

{{ payment_details }}

Vous trouverez la facture en pièce jointe. Si vous avez déjà payé, merci et ne tenez pas compte de ce message ; si quelque chose ne va pas avec cette facture, dites-le-nous simplement.

Bien cordialement,
{{ business_name }}""",
    ),
    ("fr", "level2"): (
        "Deuxième rappel : la facture {{ invoice_number }} est en retard de {{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %}",
        """Bonjour {{ client_name }},

Ceci est notre deuxième rappel : sauf erreur de notre part, la facture {{ invoice_number }} du {{ invoice_date }}, échue le {{ due_date }}, reste impayée ({{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %} de retard).

Montant restant dû : {{ balance }}{% if paid %} (compte tenu des {{ paid }} déjà reçus, merci){% endif %}

Merci de procéder au règlement dès réception de ce message.

{{ payment_details }}

Si le paiement a déjà été effectué, merci de nous en indiquer la date.

Cordialement,
{{ business_name }}""",
    ),
    ("fr", "level3"): (
        "Dernier rappel : la facture {{ invoice_number }} est en retard de {{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %}",
        """Bonjour {{ client_name }},

Ceci est notre dernier rappel : malgré nos précédents messages, la facture {{ invoice_number }} du {{ invoice_date }}, échue le {{ due_date }}, n'est toujours pas réglée ({{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %} de retard).

Montant restant dû : {{ balance }}{% if paid %} (compte tenu des {{ paid }} déjà reçus, merci){% endif %}

Nous vous demandons de la régler sous {{ deadline_days }} jours, au plus tard le {{ deadline_date }}. Sans règlement à cette date, nous vous adresserons une mise en demeure, et des intérêts de retard ainsi que l'indemnité forfaitaire pour frais de recouvrement pourront vous être réclamés.

{{ payment_details }}

Cordialement,
{{ business_name }}""",
    ),
    ("fr", "level4"): (
        "Mise en demeure : {% if invoices|length > 1 %}{{ invoices|length }} factures impayées{% else %}la facture {{ invoice_number }} est en retard de {{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %}{% endif %}",
        """MISE EN DEMEURE

De : {{ business_name }}{% if business_address %}, {{ business_address }}{% endif %}{% if company_number %}, n° d'entreprise {{ company_number }}{% endif %}{% if vat_number %}, TVA {{ vat_number }}{% endif %}

À : {{ client_name }}{% if client_address %}, {{ client_address }}{% endif %}

Le {{ today }}

Madame, Monsieur,

Malgré nos précédents rappels, les factures suivantes restent impayées à ce jour :

{% for invoice in invoices %}- facture {{ invoice.number }} du {{ invoice.date }}, échue le {{ invoice.due_date }} : {{ invoice.balance }} restant dû
{% endfor %}
Montant total dû : {{ total_balance }}

Par la présente, nous vous mettons en demeure de nous régler cette somme dans un délai de {{ deadline_days }} jours à compter de la réception de ce courrier, soit au plus tard le {{ deadline_date }}.

À défaut de paiement dans ce délai, nous engagerons sans autre avis une procédure judiciaire de recouvrement. Les sommes dues porteront intérêts de retard au taux prévu par nos conditions ou, à défaut, par la loi{% if client_is_business %}, et l'indemnité forfaitaire pour frais de recouvrement de 40 € par facture (articles L441-10 et D441-5 du Code de commerce) est exigible{% endif %}, sans préjudice des frais de procédure qui resteront à votre charge.

{{ payment_details }}

Si vous avez réglé cette somme entre-temps, nous vous prions de ne pas tenir compte de ce courrier.

Veuillez agréer, Madame, Monsieur, nos salutations distinguées.

{{ business_name }}""",
    ),
    ("fr", "grouped"): (
        "{{ level_title }} : {{ invoices|length }} factures impayées",
        """Bonjour {{ client_name }},

{% if level >= 2 %}Ceci est notre {{ level_title|lower }} : sauf{% else %}Sauf{% endif %} erreur de notre part, les factures suivantes ne sont pas encore réglées :

{% for invoice in invoices %}- {{ invoice.number }} du {{ invoice.date }}, échue le {{ invoice.due_date }} : {{ invoice.balance }}
{% endfor %}
Total restant dû : {{ total_balance }}

{{ payment_details }}

Si vous avez déjà payé, merci et ne tenez pas compte de ce message.

Bien cordialement,
{{ business_name }}""",
    ),
    # --------------------------------------------------------------- English
    ("en", "before_due"): (
        "Reminder: invoice {{ invoice_number }} is due {% if days_left == 1 %}tomorrow{% else %}in {{ days_left }} days{% endif %}",
        """Hello {{ client_name }},

Just a quick note: invoice {{ invoice_number }} for {{ amount }} is due on {{ due_date }}{% if days_left == 1 %}, tomorrow{% else %}, in {{ days_left }} days{% endif %}.

Balance due: {{ balance }}{% if paid %} (after {{ paid }} already received, thank you){% endif %}

{{ payment_details }}

If the payment is already on its way, thank you, and please ignore this message.

Kind regards,
{{ business_name }}""",
    ),
    ("en", "due_today"): (
        "Reminder: invoice {{ invoice_number }} is due today",
        """Hello {{ client_name }},

Invoice {{ invoice_number }} for {{ amount }} is due today, {{ due_date }}.

Balance due: {{ balance }}{% if paid %} (after {{ paid }} already received, thank you){% endif %}

{{ payment_details }}

If the payment is already on its way, thank you, and please ignore this message.

Kind regards,
{{ business_name }}""",
    ),
    ("en", "level1"): (
        "Reminder: invoice {{ invoice_number }} is {{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue",
        """Hello {{ client_name }},

Unless we are mistaken, invoice {{ invoice_number }} of {{ invoice_date }}, due on {{ due_date }}, has not been paid yet ({{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue).

Balance due: {{ balance }}{% if paid %} (after {{ paid }} already received, thank you){% endif %}

{{ payment_details }}

The invoice is attached. If you have already paid, thank you, and please ignore this message; if something is wrong with this invoice, just let us know.

Kind regards,
{{ business_name }}""",
    ),
    ("en", "level2"): (
        "Second reminder: invoice {{ invoice_number }} is {{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue",
        """Hello {{ client_name }},

This is our second reminder: unless we are mistaken, invoice {{ invoice_number }} of {{ invoice_date }}, due on {{ due_date }}, is still unpaid ({{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue).

Balance due: {{ balance }}{% if paid %} (after {{ paid }} already received, thank you){% endif %}

Please arrange payment on receipt of this message.

{{ payment_details }}

If the payment is under way, please let us know the date it was made.

Regards,
{{ business_name }}""",
    ),
    ("en", "level3"): (
        "Final reminder: invoice {{ invoice_number }} is {{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue",
        """Hello {{ client_name }},

This is our final reminder: despite our previous messages, invoice {{ invoice_number }} of {{ invoice_date }}, due on {{ due_date }}, is still unpaid ({{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue).

Balance due: {{ balance }}{% if paid %} (after {{ paid }} already received, thank you){% endif %}

We ask you to pay it within {{ deadline_days }} days, by {{ deadline_date }} at the latest. If it is not paid by then, we will send you a formal notice, and late-payment interest and the fixed recovery compensation may be claimed.

{{ payment_details }}

Regards,
{{ business_name }}""",
    ),
    ("en", "level4"): (
        "Formal notice: {% if invoices|length > 1 %}{{ invoices|length }} unpaid invoices{% else %}invoice {{ invoice_number }} is {{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue{% endif %}",
        """FORMAL NOTICE

From: {{ business_name }}{% if business_address %}, {{ business_address }}{% endif %}{% if company_number %}, company number {{ company_number }}{% endif %}{% if vat_number %}, VAT {{ vat_number }}{% endif %}

To: {{ client_name }}{% if client_address %}, {{ client_address }}{% endif %}

Date: {{ today }}

Dear Sir or Madam,

Despite our previous reminders, the following invoices remain unpaid to this day:

{% for invoice in invoices %}- invoice {{ invoice.number }} of {{ invoice.date }}, due on {{ invoice.due_date }}: {{ invoice.balance }} outstanding
{% endfor %}
Total amount due: {{ total_balance }}

By this formal notice, we hereby formally demand payment of this amount within {{ deadline_days }} days of receiving it, that is by {{ deadline_date }} at the latest.

If payment is not received within this period, we will start legal proceedings to recover the debt without further notice. The amounts due will bear late-payment interest at the rate set in our terms or, failing that, by law{% if client_is_business %}, and the fixed compensation for recovery costs of EUR 40 per invoice (Directive 2011/7/EU) is due{% endif %}, without prejudice to the costs of proceedings, which will be charged to you.

{{ payment_details }}

If you have paid this amount in the meantime, please disregard this notice.

Yours faithfully,

{{ business_name }}""",
    ),
    ("en", "grouped"): (
        "{{ level_title }}: {{ invoices|length }} unpaid invoices",
        """Hello {{ client_name }},

{% if level >= 2 %}This is our {{ level_title|lower }}: unless{% else %}Unless{% endif %} we are mistaken, the following invoices have not been paid yet:

{% for invoice in invoices %}- {{ invoice.number }} of {{ invoice.date }}, due on {{ invoice.due_date }}: {{ invoice.balance }}
{% endfor %}
Total balance due: {{ total_balance }}

{{ payment_details }}

If you have already paid, thank you, and please ignore this message.

Kind regards,
{{ business_name }}""",
    ),
}

# Letters say "enclosed", not "attached".
LETTER: dict[tuple[str, str], tuple[str, str]] = {}
for (_lang, _kind), (_subject, _body) in EMAIL.items():
    LETTER[(_lang, _kind)] = (
        _subject,
        _body.replace("Vous trouverez la facture en pièce jointe.", "Vous trouverez la facture ci-jointe.")
        .replace("The invoice is attached.", "The invoice is enclosed.")
        .replace("let us know", "contact us"),
    )

LANGUAGES = ("fr", "en")


def default(kind: str, channel: str, language: str) -> tuple[str, str]:
    """(subject, body) built in, for a language we ship (fr, en); English otherwise."""
    table = LETTER if channel == "letter" else EMAIL
    return table.get((language, kind)) or table[("en", kind)]
