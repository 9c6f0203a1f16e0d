"""The default sales funnel in the shape stored before the flow language (English and Russian).

Funnels of this shape may still be stored: they are converted on read (wabot.funnel.legacy),
and the shipped sales template is exactly this funnel converted (a unit test keeps it so)."""

from __future__ import annotations

GITHUB_URL = "https://github.com/localai-assistant/assistant"
PAYMENT_URL = "https://yoomoney.ru/to/4100118000000000"
MANAGER = "+7 900 000-00-00"


def _t(en: str, ru: str) -> dict[str, str]:
    return {"en": en, "ru": ru}


MENU_BUTTON = {"id": "nav:menu", "title": _t("Menu", "Меню")}

LEGACY_SALES_FUNNEL = {
    "languages": ["en", "ru"],
    "greetings": {
        "en": ["hi", "hello", "hey", "start", "menu", "good morning", "good evening", "help", "begin"],
        "ru": ["привет", "здравствуйте", "добрый день", "начать", "меню", "старт", "здравствуй", "хай", "помощь"],
    },
    "start_node": "welcome",
    "nodes": {
        "welcome": {
            "text": _t("👋 Hello! I am the assistant of *LocalAI Assistant*: an AI helper that runs on your own "
                       "hardware, offline, with your data staying inside the company.\n\nHow can I help?",
                       "👋 Здравствуйте! Я ассистент *LocalAI Assistant*: ИИ-помощник, который работает на "
                       "вашем оборудовании, без интернета, и данные не покидают компанию.\n\nЧем помочь?"),
            "buttons": [{"id": "sales:quiz", "title": _t("Pick a solution", "Подобрать решение")},
                        {"id": "faq:menu", "title": _t("Questions", "Частые вопросы")},
                        {"id": "sales:manager", "title": _t("Talk to a human", "Связаться с нами")}],
        },
        "quiz_intro": {
            "text": _t("Three short questions and I will suggest the right option.",
                       "Три коротких вопроса, и я подскажу подходящий вариант."),
            "action": "quiz_start",
        },
        "faq_menu": {
            "text": _t("Choose a topic:", "Выберите тему:"),
            "list_button": _t("Topics", "Темы"),
            "sections": [{"rows": [
                {"id": "faq:cat_product", "title": _t("About the product", "О продукте")},
                {"id": "faq:cat_install", "title": _t("Installation", "Установка")},
                {"id": "faq:cat_pricing", "title": _t("Prices and support", "Цены и поддержка")}]}],
        },
        "seg_diy": {
            "text": _t("Your team can run it yourselves: the open-source edition is free. Let us check your "
                       "GPU first.",
                       "Ваша команда справится сама: открытая версия бесплатна. Давайте проверим вашу "
                       "видеокарту."),
            "buttons": [{"id": "sales:gpu_list", "title": _t("Check my GPU", "Проверить GPU")},
                        {"id": "faq:cat_install", "title": _t("How to install", "Как установить")},
                        MENU_BUTTON],
        },
        "seg_basic": {
            "text": _t("The *Basic* package fits you: installation, setup on your documents and a month of "
                       "support.",
                       "Вам подойдёт пакет *Basic*: установка, настройка на ваших документах и месяц "
                       "поддержки."),
            "buttons": [{"id": "sales:basic_value", "title": _t("What's included", "Что входит")},
                        {"id": "sales:basic_demo", "title": _t("See a demo", "Посмотреть демо")},
                        {"id": "sales:basic_order", "title": _t("Order", "Заказать")}],
        },
        "seg_custom": {
            "text": _t("You need a *Custom* solution. Five questions and I will estimate the cost.",
                       "Вам нужно *индивидуальное* решение. Пять вопросов, и я оценю стоимость."),
            "buttons": [{"id": "sales:custom_start", "title": _t("Start", "Начать")},
                        {"id": "sales:manager", "title": _t("Talk to a human", "Связаться с нами")},
                        MENU_BUTTON],
        },
        "basic_value": {
            "text": _t("*Basic* includes:\n• installation on your server\n• indexing of up to 10,000 documents\n"
                       "• a chat for your employees\n• 30 days of support\n\nPrice: *99,000 ₽* once.",
                       "В *Basic* входит:\n• установка на ваш сервер\n• индексация до 10 000 документов\n"
                       "• чат для сотрудников\n• 30 дней поддержки\n\nЦена: *99 000 ₽* разово."),
            "buttons": [{"id": "sales:basic_demo", "title": _t("See a demo", "Посмотреть демо")},
                        {"id": "sales:basic_order", "title": _t("Order", "Заказать")}, MENU_BUTTON],
        },
        "basic_demo": {
            "text": _t("A 3-minute demo: https://localai-assistant.example/demo\nAsk me anything after watching.",
                       "Демо на 3 минуты: https://localai-assistant.example/demo\nПосле просмотра задайте "
                       "любой вопрос."),
            "buttons": [{"id": "sales:basic_order", "title": _t("Order", "Заказать")}, MENU_BUTTON],
        },
        "basic_order": {
            "text": _t(f"To order *Basic*, pay by this link: {PAYMENT_URL}\nA manager will contact you within "
                       f"a working day. Questions: {MANAGER}.",
                       f"Чтобы заказать *Basic*, оплатите по ссылке: {PAYMENT_URL}\nМенеджер свяжется с вами в "
                       f"течение рабочего дня. Вопросы: {MANAGER}."),
            "buttons": [MENU_BUTTON],
        },
        "manager": {
            "text": _t(f"Call or write to our manager: {MANAGER} (Mon-Fri, 10:00-19:00 MSK), or just leave your "
                       "question here.",
                       f"Позвоните или напишите менеджеру: {MANAGER} (пн-пт, 10:00-19:00 МСК), или оставьте "
                       "вопрос здесь."),
            "buttons": [MENU_BUTTON],
        },
        "gpu_other": {
            "text": _t("Type your GPU model, for example: RTX 3080.",
                       "Напишите модель видеокарты, например: RTX 3080."),
            "action": "gpu_custom",
        },
        "custom_start": {
            "text": _t("Great, let us start.", "Отлично, начнём."),
            "action": "discovery_start",
        },
        "spec": {"text": _t("Here is your technical specification:", "Ваше техническое задание:"), "action": "spec"},
        "menu": {"text": _t("Main menu", "Главное меню"), "then": "welcome", "action": "menu"},
    },
    "routes": {
        "sales:quiz": "quiz_intro", "faq:menu": "faq_menu", "sales:manager": "manager",
        "sales:gpu_other": "gpu_other", "sales:basic_value": "basic_value", "sales:basic_demo": "basic_demo",
        "sales:basic_order": "basic_order", "sales:custom_start": "custom_start", "tz:generate": "spec",
        "nav:menu": "welcome", "nav:home": "welcome",
    },
    "quiz": [
        {"id": "goal", "multi": True,
         "text": _t("What do you need the assistant for? Pick one, then add more if you like.",
                    "Для чего нужен ассистент? Выберите один вариант, потом можно добавить ещё."),
         "options": [{"id": "support", "title": _t("Customer support", "Поддержка клиентов")},
                     {"id": "docs", "title": _t("Search in documents", "Поиск по документам")},
                     {"id": "sales", "title": _t("Sales and leads", "Продажи и заявки")},
                     {"id": "other", "title": _t("Something else", "Другое")}]},
        {"id": "skills",
         "text": _t("Who will install and run it?", "Кто будет устанавливать и поддерживать?"),
         "options": [{"id": "self", "title": _t("Our IT team", "Наша IT-команда")},
                     {"id": "help", "title": _t("We need help", "Нужна помощь")},
                     {"id": "none", "title": _t("We have no IT team", "IT-команды нет")}]},
        {"id": "budget",
         "text": _t("What budget do you have in mind?", "На какой бюджет вы рассчитываете?"),
         "options": [{"id": "low", "title": _t("Under 100,000 ₽", "До 100 000 ₽")},
                     {"id": "mid", "title": _t("100,000-500,000 ₽", "100 000-500 000 ₽")},
                     {"id": "high", "title": _t("Over 500,000 ₽", "Больше 500 000 ₽")}]},
    ],
    "segment_rules": [
        {"segment": "custom", "when": {"budget": ["high"]}},
        {"segment": "custom", "when": {"goal": ["other"], "skills": ["help", "none"]}},
        {"segment": "diy", "when": {"skills": ["self"], "budget": ["low", "mid"]}},
    ],
    "default_segment": "basic",
    "segment_nodes": {"diy": "seg_diy", "basic": "seg_basic", "custom": "seg_custom"},
    "gpu_audit": [
        {"id": "rtx3060", "name": "RTX 3060 12 GB", "vram_gb": 12, "aliases": ["3060"],
         "runs": _t("7-8B models (Llama 3.1 8B, Qwen 2.5 7B) at a comfortable speed.",
                    "модели 7-8B (Llama 3.1 8B, Qwen 2.5 7B) с комфортной скоростью.")},
        {"id": "rtx3090", "name": "RTX 3090 24 GB", "vram_gb": 24, "aliases": ["3090"],
         "runs": _t("up to 14B models in full precision, 32B quantized.",
                    "модели до 14B в полной точности, 32B в квантизации.")},
        {"id": "rtx4090", "name": "RTX 4090 24 GB", "vram_gb": 24, "aliases": ["4090"],
         "runs": _t("32B quantized models quickly; the best single consumer card.",
                    "быстро запускает 32B в квантизации; лучшая одиночная потребительская карта.")},
        {"id": "rtx4070", "name": "RTX 4070 12 GB", "vram_gb": 12, "aliases": ["4070"],
         "runs": _t("7-8B models; fine for a small team.", "модели 7-8B; хватит для небольшой команды.")},
        {"id": "a100", "name": "A100 80 GB", "vram_gb": 80, "aliases": ["a100"],
         "runs": _t("70B models for a whole company.", "модели 70B для всей компании.")},
    ],
    "github_url": GITHUB_URL,
    "discovery": [
        {"state": "custom_step_1", "key": "company",
         "question": _t("1/5. What does your company do, and in which industry?",
                        "1/5. Чем занимается ваша компания, в какой отрасли?")},
        {"state": "custom_step_2", "key": "users",
         "question": _t("2/5. How many people will use the assistant? A number is enough.",
                        "2/5. Сколько человек будет пользоваться ассистентом? Достаточно числа.")},
        {"state": "custom_step_3", "key": "integrations",
         "question": _t("3/5. Which systems should it connect to? List them separated by commas (e.g. 1C, "
                        "Bitrix24, Confluence) or write 'none'.",
                        "3/5. С какими системами нужна интеграция? Перечислите через запятую (например, 1С, "
                        "Битрикс24, Confluence) или напишите «нет».")},
        {"state": "custom_step_4", "key": "data",
         "question": _t("4/5. Which data should it know: documents, how many, in which formats?",
                        "4/5. Какие данные он должен знать: документы, сколько, в каких форматах?")},
        {"state": "custom_step_5", "key": "deadline",
         "question": _t("5/5. When do you need it? Write 'urgent' if within a month.",
                        "5/5. Когда нужно запустить? Напишите «срочно», если в течение месяца.")},
    ],
    "pricing": {
        "currency": "₽", "base": 300000, "per_integration": 50000, "per_100_users": 20000,
        "rush_surcharge_percent": 30,
        "alternatives": [
            {"name": _t("Basic package", "Пакет Basic"), "price": 99000,
             "description": _t("standard setup without integrations", "стандартная установка без интеграций")},
            {"name": _t("Open-source edition", "Открытая версия"), "price": 0,
             "description": _t(f"install it yourselves: {GITHUB_URL}", f"установите сами: {GITHUB_URL}")},
        ],
    },
    "faq_sections": [
        {"id": "product", "title": _t("About the product", "О продукте"),
         "keys": ["what_is", "offline", "security", "vs_cloud", "cloud_models"]},
        {"id": "install", "title": _t("Installation", "Установка"), "keys": ["hardware", "install", "integrations"]},
        {"id": "pricing", "title": _t("Prices and support", "Цены и поддержка"),
         "keys": ["price", "support", "free_trial"]},
    ],
    "faq_answers": {
        "what_is": _t("*What is it?* An AI assistant that answers questions from your documents and systems, "
                      "running entirely on your servers.",
                      "*Что это?* ИИ-ассистент, который отвечает на вопросы по вашим документам и системам и "
                      "работает полностью на ваших серверах."),
        "offline": _t("*Does it work offline?* Yes. After installation it needs no internet connection.",
                      "*Работает без интернета?* Да. После установки подключение к интернету не нужно."),
        "security": _t("*Is it secure?* Your data never leaves your network; access is by employee accounts "
                       "with an audit log.",
                       "*Это безопасно?* Данные не покидают вашу сеть; доступ по учётным записям сотрудников с "
                       "журналом действий."),
        "vs_cloud": _t("*Why not a cloud AI?* No per-request fees, no data transfer to third parties, and it "
                       "keeps working when the internet does not.",
                       "*Почему не облачный ИИ?* Нет платы за запросы, данные не передаются третьим лицам, и "
                       "всё работает даже без интернета."),
        "cloud_models": _t("*Can it use cloud models too?* Yes, optionally: you choose per task.",
                           "*Можно ли подключить облачные модели?* Да, по желанию: вы выбираете для каждой задачи."),
        "hardware": _t("*What hardware?* A server with an NVIDIA GPU from 12 GB of memory; use the GPU check "
                       "to see what yours can run.",
                       "*Какое оборудование?* Сервер с видеокартой NVIDIA от 12 ГБ памяти; проверка GPU "
                       "покажет, что потянет ваша."),
        "install": _t(f"*How is it installed?* One command on Linux; guide: {GITHUB_URL}",
                      f"*Как установить?* Одной командой на Linux; инструкция: {GITHUB_URL}"),
        "integrations": _t("*Integrations?* 1C, Bitrix24, Confluence, file shares and any REST API.",
                           "*Интеграции?* 1С, Битрикс24, Confluence, файловые хранилища и любой REST API."),
        "price": _t("*Price?* Open-source edition free, Basic 99,000 ₽, Custom from 300,000 ₽.",
                    "*Цена?* Открытая версия бесплатно, Basic 99 000 ₽, индивидуальное решение от 300 000 ₽."),
        "support": _t(f"*Support?* 30 days included, then a monthly plan. Manager: {MANAGER}",
                      f"*Поддержка?* 30 дней включены, дальше помесячный тариф. Менеджер: {MANAGER}"),
        "free_trial": _t("*Free trial?* Yes: the open-source edition, or a 14-day trial of Basic on request.",
                         "*Есть пробный период?* Да: открытая версия или 14 дней Basic по запросу."),
    },
    "faq_titles": {
        "what_is": _t("What is it?", "Что это?"),
        "offline": _t("Does it work offline?", "Работает без интернета?"),
        "security": _t("Is it secure?", "Это безопасно?"),
        "vs_cloud": _t("Why not a cloud AI?", "Почему не облачный ИИ?"),
        "cloud_models": _t("Cloud models too?", "А облачные модели?"),
        "hardware": _t("What hardware?", "Какое оборудование?"),
        "install": _t("How is it installed?", "Как установить?"),
        "integrations": _t("Integrations", "Интеграции"),
        "price": _t("Price", "Цена"),
        "support": _t("Support", "Поддержка"),
        "free_trial": _t("Free trial", "Пробный период"),
    },
    "texts": {
        "more": _t("More", "Ещё"),
        "done": _t("Done", "Готово"),
        "picked": _t("Noted: {choice}. Add another option or continue?", "Записал: {choice}. Добавить ещё или дальше?"),
        "choose": _t("Choose", "Выбрать"),
        "back": _t("Back", "Назад"),
        "menu": _t("Menu", "Меню"),
        "faq_section": _t("*{title}*: choose a question.", "*{title}*: выберите вопрос."),
        "gpu_intro": _t("Which GPU do you have?", "Какая у вас видеокарта?"),
        "gpu_other": _t("Other model", "Другая модель"),
        "gpu_verdict": _t("*{name}* ({vram} GB): runs {runs}\nInstall guide and models: {url}",
                          "*{name}* ({vram} ГБ): запускает {runs}\nИнструкция и модели: {url}"),
        "gpu_unknown": _t("I do not know *{model}* yet. With 12 GB of video memory or more you can run 7-8B "
                          "models. Guide: {url}",
                          "Модель *{model}* мне пока не знакома. С 12 ГБ видеопамяти и больше запустятся модели "
                          "7-8B. Инструкция: {url}"),
        "quote": _t("*Estimate: {total}*\n• base: {base}\n• integrations ({integrations}): {integrations_cost}\n"
                    "• users ({users}): {users_cost}{rush}\n\nCheaper alternatives:\n{alternatives}",
                    "*Оценка: {total}*\n• база: {base}\n• интеграции ({integrations}): {integrations_cost}\n"
                    "• пользователи ({users}): {users_cost}{rush}\n\nВарианты дешевле:\n{alternatives}"),
        "rush": _t("\n• urgent launch: +{percent}%", "\n• срочный запуск: +{percent}%"),
        "get_spec": _t("Get the spec", "Получить ТЗ"),
        "spec": _t("*Technical specification*\n\n*1. Company:* {company}\n*2. Users:* {users}\n"
                   "*3. Integrations:* {integrations}\n*4. Data:* {data}\n*5. Deadline:* {deadline}\n"
                   "*Quiz answers:* {answers}",
                   "*Техническое задание*\n\n*1. Компания:* {company}\n*2. Пользователи:* {users}\n"
                   "*3. Интеграции:* {integrations}\n*4. Данные:* {data}\n*5. Сроки:* {deadline}\n"
                   "*Ответы на вопросы:* {answers}"),
        "spec_missing": _t("Answer the five discovery questions first.", "Сначала ответьте на пять вопросов."),
        "rate_limited": _t("You have reached the limit of free-form questions for now. Please try again in "
                           "{hours} h, or use the menu.",
                           "Лимит свободных вопросов пока исчерпан. Попробуйте через {hours} ч или "
                           "воспользуйтесь меню."),
        "opted_out": _t("You will not receive messages from us any more. Send START to resume.",
                        "Вы больше не будете получать от нас сообщения. Отправьте СТАРТ, чтобы возобновить."),
        "opted_in": _t("Welcome back! Messages are on again.", "С возвращением! Сообщения снова включены."),
    },
}

